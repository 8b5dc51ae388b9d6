"""The ledger's use cases, one module per capability (mirroring domain/): each method
loads a contract, calls it, and commits its new events. ContractLedger combines them."""
