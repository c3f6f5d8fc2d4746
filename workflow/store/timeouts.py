"""The PostgreSQL limits' defaults, apart from the module that uses them: settings and the command line read them
without loading psycopg, which the embedded SQLite store never needs."""

DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_LOCK_TIMEOUT = 5
