from apigen_pipeline.cli.app import main

raise SystemExit(main())
