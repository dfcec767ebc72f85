"""The training dataset: exports (APIGen-MT ShareGPT + OpenAI chat), validators, pass^k and the funnel report.

Public API: `export.export_dataset(trajectories, ExportSource, DatasetCardInfo, target, blueprints)` with
`targets.LocalTarget` / `targets.S3Target` (rows a trainer cannot use are dropped by reason: `admission`);
`revalidate.revalidate_export(target, domain, batch)` re-checks written files from their bytes;
`task_files.load_blueprints` reads the accepted blueprints exported as tau-bench task files back;
`validators.validate_openai_example` / `validate_sharegpt_row`;
`passk.pass_hat_k` and `passk.run_passk_evaluation`; `report.build_generation_report`; row builders in `rows`.
"""
