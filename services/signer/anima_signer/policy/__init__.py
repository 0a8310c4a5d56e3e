"""What an agent may sign: the owner's signed policy engine, and the minimal gate.

Agents created with an owner are governed only by documents their owner signed
(document.py parses, owner.py checks the signature, engine.py decides, windows.py
counts spend); agents created without one keep the minimal gate set at their
creation (minimal_gate.py). Nothing here imports a transport.
"""
