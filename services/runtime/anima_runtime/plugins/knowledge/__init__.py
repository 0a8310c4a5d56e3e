"""Knowledge, as ElizaOS keeps it: each of the character's knowledge entries (inline
text, a file, a directory of files) becomes one "documents" memory and the
"fragments" it is split into, which the runtime searches for every message and
the knowledge provider puts in the prompt.

Modules: sources (reading the entries, files only under the knowledge directory),
chunking (fragments), ingest (the memories, idempotently), provider (the prompt's
"# Knowledge" section).
"""
