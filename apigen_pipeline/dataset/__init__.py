"""The training dataset: exports (APIGen-MT ShareGPT + OpenAI chat), validators, pass^k and the funnel report.

Public API: `export.export_dataset(trajectories, ExportSource, DatasetCardInfo, target)` with
`targets.LocalTarget` / `targets.S3Target`; `validators.validate_openai_example` / `validate_sharegpt_row`;
`passk.pass_hat_k` and `passk.run_passk_evaluation`; `report.build_generation_report`; row builders in `rows`.
"""
