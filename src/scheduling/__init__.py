"""The scheduler in front of RunPod: its numbers (policy), the turn order and positions (turns), its SQL
(store) and the pushes of its alarm (pushes); the object is durable_objects/scheduler.py."""
