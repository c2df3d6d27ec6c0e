"""The import job: a big import's dry run, then its apply, each a run of `import_rows` queued
by the list's Import with what to import as the run's arguments (docs/reference.md, "Imports")."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from app.auth.current import Actor
from app.errors import Conflict, StarboardError
from app.imports.files import digest_of, purge, read_table, write_result
from app.imports.loading import ImportedField, ImportRefused, Outcome, RowLoader, mapper_named
from app.scheduler import JobContext, job

JOB = "import_rows"
APPLYING = ".applying"  # the file's name while an apply holds it: a second apply finds nothing


class FileChanged(Conflict):
    """The file is not the one its dry run checked (changed, applied already, or expired)."""


@dataclass(frozen=True)
class ImportTask:
    """What one run imports: the run's arguments."""

    model: str  # the admin's identity of the model ("order")
    table: str  # the mapped class ("Order")
    file: str  # the kept upload, in the imports directory
    format: str
    digest: str  # the file's SHA-256 when it was uploaded
    requester: str
    user_id: int | None
    client_address: str | None
    fields: list[dict[str, str]]  # the list's importable fields: name and label
    update_existing: bool
    dry_run: bool
    dry_run_id: int | None = None  # for an apply: the run that checked the file

    @classmethod
    def from_arguments(cls, arguments: Any) -> ImportTask:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in dict(arguments).items() if k in known})

    def as_arguments(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def path(self) -> Path:
        return Path(self.file)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.requester, self.client_address)


def page_of(run_id: int) -> str:
    """The import's page for one run: its progress, result and (after a dry run) Apply."""
    return f"/admin/imports/{run_id}"


@job(
    "0 0 1 1 *",
    name=JOB,
    description="A list's big import: its dry run, then its apply (started from the list)",
    enabled=False,
    overlap="allow",
)
async def import_rows(ctx: JobContext) -> None:
    if not ctx.arguments:
        ctx.log("This job runs from a list's Import, with the file to import; nothing to do.")
        return
    task = ImportTask.from_arguments(ctx.arguments)
    removed = purge(
        task.path.parent, ctx.settings.IMPORT_FILE_RETENTION, ctx.clock.now(), keep=task.path
    )
    if removed:
        ctx.log(f"Removed {removed} import file(s) kept longer than IMPORT_FILE_RETENTION.")
    what = "Dry run of" if task.dry_run else "Import of"
    result: dict[str, Any] = {"run_id": ctx.run_id, "dry_run": task.dry_run, "model": task.model}
    try:
        outcome = await checked_or_applied(ctx, task)
    except (ImportRefused, FileChanged) as refused:
        result.update(good=False, applied=False, refused=refused.message)
        if isinstance(refused, ImportRefused):
            result.update(errors=[refused.error.as_json()], error_count=1)
        write_result(task.path, ctx.run_id, result)
        await tell(
            ctx,
            f"{what} {task.model} refused",
            f"{refused.message}. Nothing was imported.",
            user=task.requester,
            level="error",
            link=page_of(ctx.run_id),
        )
        raise
    result.update(
        rows=outcome.rows,
        to_add=outcome.to_add,
        to_change=outcome.to_change,
        errors=[error.as_json() for error in outcome.errors],
        error_count=outcome.error_count,
        good=outcome.good,
        applied=not task.dry_run,
        digest=task.digest,
    )
    write_result(task.path, ctx.run_id, result)
    if not outcome.good:
        first = outcome.errors[0]
        await tell(
            ctx,
            f"Dry run of {task.model}: {outcome.error_count:,} bad row(s)",
            f"The file is refused as a whole; first: {first.text()}.",
            user=task.requester,
            level="error",
            link=page_of(ctx.run_id),
        )
        raise ImportRefused(first)
    done = "would add" if task.dry_run else "added"
    summary = f"{outcome.rows:,} rows: {done} {outcome.to_add:,}, " + (
        f"{'would change' if task.dry_run else 'changed'} {outcome.to_change:,}"
    )
    ctx.log(summary)
    await tell(
        ctx,
        f"{what} {task.model}: {'the file is good' if task.dry_run else 'done'}",
        summary + (". Open it to apply." if task.dry_run else "."),
        user=task.requester,
        level="success",
        link=page_of(ctx.run_id),
    )


async def tell(ctx: JobContext, title: str, body: str, **where: Any) -> None:
    """Notifies the requester; an account gone since does not fail a finished import."""
    try:
        await ctx.notify(title, body, **where)
    except StarboardError as refused:
        ctx.log(f"Not notified: {refused.message}")


async def checked_or_applied(ctx: JobContext, task: ImportTask) -> Outcome:
    path = task.path
    if not task.dry_run:
        # Taken by renaming: of two applies of one dry run, the second finds no file.
        held = path.with_name(path.name + APPLYING)
        try:
            os.replace(path, held)
        except FileNotFoundError:
            raise FileChanged(
                "file: gone (applied already, or removed after its retention)"
            ) from None
        path = held
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise FileChanged("file: gone (removed after its retention): upload it again") from None
    try:
        if await anyio.to_thread.run_sync(digest_of, content) != task.digest:
            raise FileChanged("file: changed since it was uploaded: upload it again")
        table = await anyio.to_thread.run_sync(read_table, content, task.format)
        fields = [ImportedField.from_json(each) for each in task.fields]

        async def report(done: int, total: int) -> None:
            verb = "checked" if task.dry_run else "saved"
            ctx.progress(done / total, f"{verb} {done:,} of {total:,} rows")

        async with ctx.session() as session:
            loader = RowLoader(
                session,
                mapper_named(task.table),
                fields,
                table.headers,
                model=task.model,
                update_existing=task.update_existing,
            )
            return await loader.load(
                table,
                apply=not task.dry_run,
                actor=task.actor,
                now=ctx.clock.now(),
                progress=report,
            )
    finally:
        if not task.dry_run:
            path.unlink(missing_ok=True)  # applied or refused: an apply is never tried twice
