"""Anima's vector memory service: Eliza-style memories over an embedded or server Qdrant."""
