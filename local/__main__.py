"""`python -m local`: serve the Worker on 127.0.0.1:${PORT:-8787} with the stand-in runtime."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn

from local.runtime import LocalRuntime
from local.server import LocalServer


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    root = Path(os.environ.get("WORKER_ROOT", Path(__file__).resolve().parent.parent))
    runtime = LocalRuntime(root)
    for name in runtime.config.missing_secrets():
        # Named now rather than discovered by the first request that needs it.
        logging.getLogger("local").error("secret %s is not set (.dev.vars or the environment): "
                                         "routes that need it answer 500 config_error", name)
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8787"))
    logging.getLogger("local").info("serving %s on http://%s:%d (state in %s)", runtime.config.name, host, port,
                                    runtime.state_dir)
    uvicorn.run(LocalServer(runtime), host=host, port=port, ws="websockets-sansio", log_level="warning",
                lifespan="on", ws_ping_interval=None)


if __name__ == "__main__":
    main()
