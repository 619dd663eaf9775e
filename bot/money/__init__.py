"""What people see of money: usage, budgets, notices, spend reports, the App Home, and
reconciliation with fal's own records."""
