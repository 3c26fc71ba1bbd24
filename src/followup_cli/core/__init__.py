"""The rules core (SPEC 3 and 4): schema, money, the billing calendar, the ledger, the decision
tables and the pipeline that labels people. Pure: no file is read or written here, and nothing
here imports another layer of the package."""
