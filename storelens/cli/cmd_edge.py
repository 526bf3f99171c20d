"""``storelens edge run``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storelens.errors import ConfigError

if TYPE_CHECKING:
    from storelens.config import Config

log = logging.getLogger(__name__)


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """The config with the command line's --camera/--source/--gallery/--mqtt/--store applied."""
    from pydantic import ValidationError

    from storelens.config import Config, config_errors

    data = config.model_dump()
    if args.camera:
        data["cameras"] = [c for c in data["cameras"] if c["id"] == args.camera]
        if not data["cameras"]:
            known = ", ".join(c.id for c in config.cameras)
            raise ConfigError(f"--camera {args.camera!r}: no such camera in the config (cameras: {known})")
    if args.source:
        if len(data["cameras"]) != 1:
            raise ConfigError("--source needs exactly one camera: add --camera ID")
        data["cameras"][0]["source"] = args.source
    if args.gallery:
        data["gallery"]["dir"] = args.gallery
    if args.mqtt:
        data["mqtt"]["url"] = args.mqtt
    if args.store:
        data["store"]["id"] = args.store
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid command-line override: " + "; ".join(config_errors(exc, data))) from exc


def cmd_edge_run(args: argparse.Namespace) -> int:
    """Run the edge pipeline until Ctrl-C / SIGTERM, or until file sources end and are delivered."""
    from storelens.apps.edge import EdgeApp
    from storelens.cli.logs import setup_logging
    from storelens.config import load_config
    from storelens.edge.capture import FileReader, is_live

    config = apply_overrides(load_config(Path(args.config)), args)
    for camera in config.cameras:  # a file source that cannot play is the operator's mistake: say so now
        if not is_live(camera.source):
            FileReader(camera.id, camera.source, camera.analysis_fps).stop()
    if args.validate_only:
        print(f"{args.config}: valid (store {config.store.id}, {len(config.cameras)} camera(s))")
        return 0
    setup_logging(config.logging, args.verbose)
    runner = EdgeApp(config)

    def stop(signum: int, _frame: Any) -> None:
        log.warning("signal %d: stopping", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = runner.run()
    sys.stderr.write("storelens: edge run finished: " + json.dumps(runner.summary()) + "\n")
    return code


def add_edge_commands(sub: Any, add: Any) -> None:
    """Register ``edge run``."""
    sp = add(sub, "run", cmd_edge_run, "run the edge pipeline")
    sp.add_argument("--config", required=True, help="configuration file")
    sp.add_argument("--camera", help="run only this camera")
    sp.add_argument("--source", help="override the camera's source (rtsp:// URL, file, or device index)")
    sp.add_argument("--gallery", help="gallery directory (overrides gallery.dir)")
    sp.add_argument("--mqtt", help="broker URL, mqtt://host:port (overrides mqtt.url)")
    sp.add_argument("--store", help="store id (overrides store.id)")
    sp.add_argument("--validate-config", dest="validate_only", action="store_true", help="check the config and exit")
