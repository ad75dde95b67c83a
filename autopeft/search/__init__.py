"""Search: strategies that propose candidates, the study loop (ask -> evaluate -> tell), the
trial record (an Optuna study plus plain CSV files), the budget constraint, Pareto fronts and
hypervolume. `autopeft.search(...)` (search.api) is the entry point."""
