"""What the board and analysts read: the quarterly dashboard, `cspwh explain`, the as-published ledger and dbt's
documentation site, all from the published marts."""
