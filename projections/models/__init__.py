"""The read models: each module holds one projection, its tables, and the query functions that read them."""
