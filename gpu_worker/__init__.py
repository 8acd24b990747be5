"""GPU-side code (never deployed with the Worker): a local RunPod-compatible endpoint for development."""
