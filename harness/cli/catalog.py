"""`sllm-bench models | devices | backends`: what the harness knows about."""

from __future__ import annotations

from harness.markdown import table


def register(sub) -> None:
    sub.add_parser("models", help="list the model catalogue").set_defaults(handler=cmd_models)
    sub.add_parser("devices", help="list device profiles").set_defaults(handler=cmd_devices)
    sub.add_parser("backends", help="list backends and whether their library is installed"
                   ).set_defaults(handler=cmd_backends)


def _where(src) -> str:
    if src.kind == "package":
        return f"package {src.distribution}"
    if src.kind == "path":
        return f"path {src.path}"
    return f"hub {src.repo}/{src.file}"


def cmd_models(args) -> int:
    from harness import api

    cat, _ = api.catalogue(args.models_file)
    rows = [[m.id + (" (default)" if m.id == cat.default else ""), m.format, _where(m.source),
             m.parameters or "-", m.quantization or "-", m.license or "-"]
            for m in cat.models]
    print("\n".join(table(["id", "format", "source", "parameters", "quantization",
                           "license"], rows)))
    return 0


def cmd_devices(args) -> int:
    from harness.config import list_devices, load_device

    rows = []
    for name in list_devices():
        d = load_device(name)
        rows.append([d.name, d.threads, d.cores, d.memory_budget_mb or "-", len(d.budgets),
                     d.description])
    print("\n".join(table(["name", "threads", "cores", "memory budget MB", "budgets",
                           "description"], rows)))
    return 0


def cmd_backends(args) -> int:
    from harness import backends as reg

    for name in reg.names():
        missing = reg.missing_modules(name)
        state = "available" if not missing else f"missing {', '.join(missing)}"
        print(f"{name:14s} {state}")
    return 0
