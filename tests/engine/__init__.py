"""Tests of the sync engine: the planner, runs on memory connectors, crashes, convergence."""
