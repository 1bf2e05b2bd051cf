"""`posebench evaluate` and `posebench protocols`: thin click wrappers over the Python API."""
from __future__ import annotations

import json

import click

from posebench.protocols import ProtocolError


def _fail(e: Exception) -> None:
    raise click.ClickException(str(e))


@click.command(epilog="""\b
Examples:
  posebench evaluate --protocol h36m --template template.h5           # rows to predict, with model inputs
  posebench evaluate --protocol h36m --predictions preds.h5
  posebench evaluate --protocol mpi3dhp-corrected --predictions p.h5 --format json
  posebench evaluate --protocol mpi3dhp-corrected --model margipose --checkpoint mp.pth
  posebench evaluate --protocol h36m --model margipose --checkpoint mp.pth --model-option multicrop=true
  posebench evaluate --protocol h36m --model mean-pose                 # sanity baseline
  posebench evaluate -p h36m-lifting --predictions vp3d.npz --name "VideoPose3D 243f"   # VideoPose3D layout
  posebench evaluate -p h36m-lifting --predictions results.json --from mmpose
  posebench evaluate -p mpi3dhp-official --predictions inference_data.mat           # TS1..TS6, 3x17x1xN
  posebench evaluate -p h36m --predictions mine.h5 --joint-order h36m17              # pelvis-first order
""")
@click.option("--protocol", "-p", required=True, help="Protocol name or alias (see `posebench protocols list`) or a .toml file.")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="Data folder (default $POSEBENCH_DATA or ./data) or a prepared .h5 file.")
@click.option("--predictions", type=click.Path(dir_okay=False),
              help="Predictions file (HDF5/.npz: joints3d, index; or another layout, see --from).")
@click.option("--from", "from_format", type=click.Choice(["posebench", "videopose3d", "mmpose", "mpi-mat"]),
              default=None, help="Layout of --predictions (default: detected; see docs/contracts.md).")
@click.option("--joint-order", type=click.Choice(["canonical", "h36m17", "mpi17"]), default=None,
              help="Joint order of the predictions (default: the layout's own; h36m17 = VideoPose3D/mmpose).")
@click.option("--name", "run_name", default=None, help="Name of the run in leaderboards, tables and reports.")
@click.option("--model", "model_name", help="A registered model to run instead (e.g. margipose, mean-pose).")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Model checkpoint (with --model).")
@click.option("--device", default=None, help="Torch device for --model (default: cuda if available).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Rows per model batch (with --model).")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Option for the model (repeatable), e.g. --model-option multicrop=true.")
@click.option("--template", type=click.Path(dir_okay=False), help="Write the rows to predict (and model inputs) here, then stop.")
@click.option("--overwrite", is_flag=True, help="Let --template replace an existing file (never an input).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table", show_default=True)
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where runs are stored (default $POSEBENCH_RESULTS or ./posebench-results).")
@click.option("--save/--no-save", default=True, show_default=True, help="Store the run under RESULTS/runs/.")
def evaluate(protocol, data, predictions, from_format, joint_order, run_name, model_name, checkpoint, device,
             batch_size, model_options, template, overwrite, fmt, results_dir, save):
    """Score predictions (or a model) under a protocol and store the run."""
    from posebench.data import PreparedFileError
    from posebench.evaluation import DataMismatchError, data_path, evaluate as run, evaluate_model, make_template
    from posebench.io_utils import check_output
    from posebench.protocols import load_protocol
    from posebench.predictions import PredictionsError, write_predictions

    errors = (ProtocolError, PreparedFileError, PredictionsError, DataMismatchError, LookupError, ValueError)
    try:
        if template:
            proto = load_protocol(protocol)
            prepared_path = data_path(proto, data)  # the template reads only what it needs from it
            check_output(template, inputs=[prepared_path, predictions, checkpoint, proto.source or None],
                         overwrite=overwrite, what="template")
            cols = make_template(proto, prepared_path)
            write_predictions(template, None, cols.pop("index"), **cols)
            click.echo(f"wrote {len(cols['image'])} rows to predict to {template}", err=True)
            return
        if bool(predictions) == bool(model_name):
            raise click.UsageError("give exactly one of --predictions FILE or --model NAME (or --template FILE)")
        if predictions:
            result = run(predictions, protocol, data, results_dir=results_dir, save=save, from_format=from_format,
                         joint_order=joint_order, run_name=run_name)
        else:
            if from_format or joint_order:
                raise click.UsageError("--from and --joint-order describe a --predictions file")
            result = evaluate_model(model_name, protocol, data, checkpoint=checkpoint, device=device,
                                    batch_size=batch_size, results_dir=results_dir, save=save, run_name=run_name,
                                    **_parse_options(model_options))
    except errors as e:
        _fail(e)
    _print_result(result, fmt)
    if save:
        click.echo(f"run stored: {result.path}", err=True)


def _parse_options(items: tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE pairs -> {key: value} (dashes in keys become underscores); values stay text for the model."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--model-option")
        options[key.replace("-", "_")] = value
    return options


def _print_result(result, fmt: str) -> None:
    s = result.meta["summary"]
    summary = {m: float(s[m]) for m in result.protocol.metric_names if m in s}
    if fmt == "json":
        out = {"run_id": result.run_id, "protocol": result.protocol.name, "protocol_version": result.protocol.version,
               "summary": summary, "units": result.meta["units"], "rows": result.meta["rows_scored"],
               "data_hash": result.meta["data"]["content_hash"],
               "lookalike": bool(result.meta["data"].get("lookalike")), "ceiling": result.meta.get("ceiling"),
               "hints": result.meta.get("hints", [])}
        click.echo(json.dumps(out, indent=2))
        return
    if fmt == "table":  # plain text: no pandas import for the common case
        click.echo(f"{result.protocol.name} v{result.protocol.version}: {result.meta['rows_scored']} rows")
        if result.meta["data"].get("lookalike"):
            click.echo("  LOOK-ALIKE DATA (posebench sample): not comparable with published results")
        ceiling = result.meta.get("ceiling") or {}
        for m, v in summary.items():
            top = (ceiling.get("summary") or {}).get(m)
            extra = f"   (ceiling {top:.3f})" if top is not None and not ceiling.get("perfect") else ""
            click.echo(f"  {m:<9} {v:10.3f} {result.meta['units'][m]}{extra}")
        if ceiling:
            click.echo(f"  ceiling: {ceiling['note']}")
        for hint in result.meta.get("hints", []):
            click.echo(f"  hint: {hint}")
        return
    frame = result.summary.to_frame("value")
    frame["unit"] = [result.meta["units"][m] for m in frame.index]
    if fmt == "csv":
        click.echo(frame.to_csv(index_label="metric"), nl=False)
    elif fmt == "md":
        from posebench.report import to_markdown

        click.echo(to_markdown(frame.rename_axis("metric"), digits=3), nl=False)


@click.group(epilog="""\b
Examples:
  posebench protocols list
  posebench protocols show mpi3dhp-corrected
  posebench protocols validate my-protocol.toml     # also: POSEBENCH_PROTOCOLS=folder adds your own
""")
def protocols() -> None:
    """List, show and validate evaluation protocols."""


@protocols.command("list")
def protocols_list() -> None:
    """One line per protocol: name, version, dataset/split, metrics, title."""
    from posebench.protocols import list_protocols

    for p in list_protocols():
        alias = f" (alias {', '.join(p.aliases)})" if p.aliases else ""
        click.echo(f"{p.name:<18} v{p.version}  {p.dataset}/{p.split:<5} {','.join(p.metric_names):<40} {p.title}{alias}")


@protocols.command("show")
@click.argument("name")
def protocols_show(name: str) -> None:
    """Print a protocol in full, as JSON."""
    from posebench.protocols import load_protocol

    try:
        click.echo(json.dumps(load_protocol(name).to_dict(), indent=2))
    except ProtocolError as e:
        _fail(e)


@protocols.command("validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def protocols_validate(files) -> None:
    """Validate protocol files (default: every known protocol)."""
    from posebench.protocols import list_protocols, load_protocol_file

    try:
        found = [load_protocol_file(f) for f in files] if files else list_protocols()
    except ProtocolError as e:
        _fail(e)
    for p in found:
        click.echo(f"ok  {p.name} v{p.version} ({p.source})")
