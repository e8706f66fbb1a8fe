from rlxform.cli import main

raise SystemExit(main())
