"""The Pyomo model: its numbers, its families, its MIP start and the nightly terms."""
