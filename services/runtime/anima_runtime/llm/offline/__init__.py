"""The offline default model: answers from what the runtime already retrieved, with no
language model and no weights beyond the MiniLM embedder the memory service uses.

It reads `request.state`, never the prompt, and answers in the formats of
`agent/formats.py`. Everything it says is retrieved or assembled from rules:

- Actions: the message's cosine similarity to each offered action's example user
  lines and similes; the best action is chosen when it clears ACTION_MIN and beats
  NONE by ACTION_MARGIN, else NONE. IGNORE answers with an empty text.
- Text, first match wins: a question on a topic a provider verified (the EVM wallet
  provider: balance, wallet ...) answered with that provider's sentence, which names
  the block it was proven against; a question about the user answered from a known
  fact or an earlier statement of theirs ("You told me you live in Lisbon."), or "You
  haven't told me ..." when a recognized question finds nothing; a knowledge passage
  for a question (unless a message example matches clearly better); the character's
  reply from the most similar messageExamples user line, unless that reply states a
  figure, an address or a {{placeholder}} (made-up examples are never said as the
  agent's own state); an acknowledgment of a statement the fact rules read ("Good to
  know: you live in Porto."); a short in-character line from the character's topics,
  short knowledge entries or bio.
- Facts: English first-person statements read by rules (statements.py) and
  compared with the known facts by key: add, update, delete or nothing.
- Continue: the best knowledge passage not said yet, else that there is nothing to add.

It cannot generate: it never writes a sentence it has not retrieved or templated, does
not follow long conversations, reads facts only from plain English first-person
statements, and answers the same state the same way every time.

Modules: model (OfflineModel), claims_guard (unverified example claims, verified
provider answers), index (embedded lines and their caches), examples (the
lines an action or character offers), templated (the fallback lines, in the character's
manner); the English rules: words, statements (clauses read by statement_rules into
claims, with values), facts (claims against the known facts), questions, recall and
persons (person swaps).
"""

from anima_runtime.llm.offline.model import OfflineModel

__all__ = ["OfflineModel"]
