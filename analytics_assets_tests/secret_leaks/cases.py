"""The bad values of every secret the tests configure; {a} and {b} become random hex markers.

A form is refused (or masked) on the cheapest surface that reaches its code (settings, the
client); every surface (in-process run, CLI, sensor tick, check) runs with a few of them.
"""

# Malformed keys: each must be refused naming ANALYTICS_API_KEY, the value never shown.
MALFORMED_KEYS = {
    "newline-inside": "sk-LEAK-{a}\n{b}",
    "crlf-inside": "sk-LEAK-{a}\r\n{b}",
    "two-lines-and-a-final-newline": "sk-LEAK-{a}\n{b}\n",
    "tab-inside": "sk-LEAK-{a}\t{b}",
    "space-inside": "sk-LEAK-{a} {b}",
    "bell": "sk-LEAK-{a}\x07{b}",
    "ansi-escape-first": "\x1b[31msk-LEAK-{a}{b}",
    "delete": "sk-LEAK-{a}\x7f{b}",
    "e-acute": "sk-LEAK-{a}\u00e9{b}",
    "cyrillic": "\u043a\u043b\u044e\u0447-{a}-{b}",
    "nbsp-inside": "sk-LEAK-{a}\u00a0{b}",
    "zero-width-space-first": "\u200bsk-LEAK-{a}{b}",
    "line-separator-inside": "sk-LEAK-{a}\u2028{b}",
}
# An environment variable cannot hold NUL: these go through the in-process paths only.
MALFORMED_KEYS_IN_PROCESS = {**MALFORMED_KEYS, "nul-inside": "sk-LEAK-{a}\x00{b}"}
# Every form above is refused by the settings (test_secrets_settings); each run surface
# proves the refusal reaches it with a few. In process (about a second each):
MALFORMED_KEYS_RUN = ("newline-inside", "nul-inside", "e-acute")
# Through the CLI (seconds each), the requirement's own cases.
MALFORMED_KEYS_CLI = ("newline-inside", "tab-inside", "space-inside", "bell", "e-acute")
# Surrounding whitespace (a mounted secret file's newline) is stripped: the run succeeds.
STRIPPED_KEYS = {
    "trailing-newline": "{key}\n",
    "trailing-crlf": "{key}\r\n",
    "spaces-and-tabs-around": " \t{key} \t",
    "newlines-around": "\n{key}\n\n",
}
STRIPPED_KEYS_RUN = ("trailing-crlf", "spaces-and-tabs-around")
STRIPPED_KEYS_CLI = ("trailing-newline",)  # a mounted secret file's


# Bad `DESTINATION__POSTGRES__CREDENTIALS` values against the throwaway server. {at} is its
# host:port; {a} and {b} are the markers of a wrong password. With the right password the
# markers go elsewhere in the URL (not secret there): only the password is searched for.
# Each reaches its own corner of dlt's parsing and connecting: all run in process.
BAD_CREDENTIALS = {
    "wrong-password": "postgresql://{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "newline-in-password": "postgresql://{user}:PW-LEAK-{a}\n{b}@{at}/postgres",
    "bad-percent-escape": "postgresql://{user}:PW-LEAK-{a}%zz{b}@{at}/postgres",
    "unescaped-at-in-password": "postgresql://{user}:PW-LEAK-{a}@{b}@{at}/postgres",
    "unescaped-slash-in-password": "postgresql://{user}:PW-LEAK-{a}/{b}@{at}/postgres",
    "unescaped-hash-in-password": "postgresql://{user}:PW-LEAK-{a}#{b}@{at}/postgres",
    "space-in-password": "postgresql://{user}:PW-LEAK-{a} {b}@{at}/postgres",
    "no-scheme": "{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "right-password-bad-port": "postgresql://{user}:{password}@127.0.0.1:99999/postgres",
    "right-password-unknown-database": "postgresql://{user}:{password}@{at}/no_such_db",
    "right-password-trailing-newline": "postgresql://{user}:{password}@{at}/postgres\n",
}
DESTINATION_CASES_CLI = ("wrong-password",)
# Well-formed but for surrounding whitespace: loading (if dlt strips it) is no leak either.
MAY_LOAD = {"right-password-trailing-newline"}


# Bad `ANALYTICS_API_RATE_LIMIT_STORE` values (a Postgres URL holds a password).
BAD_STORES = {
    "wrong-password": "postgresql://{user}:PW-LEAK-{a}{b}@{at}/postgres",
    "bad-percent-escape": "postgresql://{user}:PW-LEAK-{a}%zz{b}@{at}/postgres",
    "newline-in-password": "postgresql://{user}:PW-LEAK-{a}\n{b}@{at}/postgres",
    "unescaped-at-in-password": "postgresql://{user}:PW-LEAK-{a}@{b}@{at}/postgres",
    "right-password-bad-port": "postgresql://{user}:{password}@127.0.0.1:99999/postgres",
    # SQLAlchemy's spelling, as pasted from another tool's settings.
    "sqlalchemy-driver-scheme": "postgresql+psycopg://{user}:PW-LEAK-{a}{b}@{at}/postgres",
}
STORE_CASES_CLI = ("wrong-password",)
# Every store form is refused when the client opens it; a run fails the same way with these.
STORE_CASES_RUN = ("wrong-password", "sqlalchemy-driver-scheme")


# The API echoing the key back in an error message: masked wherever it is shown.
ECHOES = {
    "400-plain": (400, "invalid key {key} for this workspace"),
    "401-quoted": (401, "key '{key}' is not valid"),
    # Cut to 200 characters inside the key: masked before it is cut, or a prefix would show.
    "403-long-message": (403, "x" * 190 + " {key}"),
    "400-key-from-a-newline-padded-setting": (400, "you sent {key}"),
}
