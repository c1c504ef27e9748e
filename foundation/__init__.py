"""The ground floor of socscope: the campaign model, the technique contract and registry, the run ledger.

Everything else stands on it (warehouse, tasks, flows, the app in ``socscope/``); it imports none of them.
"""
__version__ = "0.1.0"
