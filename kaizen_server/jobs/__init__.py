"""Optimization job dispatch: the seam between the API and the optimization worker."""
