"""Analysis of finished trials: AlgoPerf's score and profiles, hyperparameter lists, importance,
landscapes.
"""
