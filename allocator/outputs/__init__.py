"""Everything a person reads: result files, the terminal, report.html, plan.xlsx, charts."""
