"""Webchat and the chatbot API: written conversations as work items in the same ACD (docs/chat.md)."""
