"""Stages 4-5: training dataset export, pass^k evaluation, generation report."""
