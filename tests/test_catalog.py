"""The Snakemake workflow catalog's conventions: workflow/Snakefile, config/README.md, the catalog file, a
.test/ smoke config that runs the chain, lints clean, and gives `snakemake --report` its archive."""

import csv
import zipfile

import yaml
from conftest import ROOT, copy_project, snakemake

from augrepro.runs import RunKey


def test_the_smoke_test_trains_with_its_own_config_and_snakemake_reports_it(tmp_path):
    project = copy_project(tmp_path / "project")
    result = snakemake(project, "--directory", ".test", "--cores", "2", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    smoke = project / ".test"
    # the 'smoke' protocol and study exist only in .test/config: the working directory's config came first
    for augmentation in ("baseline", "saliencymix"):
        metrics = smoke / RunKey("smoke", "demo", "resnet8", augmentation, 0).path("metrics")
        rows = list(csv.DictReader(metrics.open()))
        assert [int(r["epoch"]) for r in rows] == [1, 2]
    html = (smoke / "results/report/report.html").read_text()
    assert "Smoke test: baseline and SaliencyMix" in html
    assert not (project / "results").exists()  # nothing written outside the working directory

    result = snakemake(project, "--directory", ".test", "--report", "report.zip")
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(smoke / "report.zip") as archive:
        ours = [n for n in archive.namelist() if n.endswith("/report.html") and "/data/raw/" in n]
        assert ours, archive.namelist()
        assert "Smoke test: baseline and SaliencyMix" in archive.read(ours[0]).decode()


def test_snakemake_lint_finds_nothing(tmp_path):
    project = copy_project(tmp_path / "project")
    for args in (("--directory", ".test"), ()):
        result = snakemake(project, *args, "--lint")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_the_catalog_file_and_config_readme_describe_the_workflow():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert any(catalog["software-stack-deployment"].values())
    profile = catalog["mandatory-flags"]["flags"].split("--profile ")[1].split()[0]
    assert (ROOT / profile / "config.yaml").is_file()  # the profile the catalog tells users to pass exists
    assert (ROOT / "workflow/Snakefile").is_file() and not (ROOT / "Snakefile").exists()
    readme = (ROOT / "config/README.md").read_text()
    for path in (ROOT / "config").iterdir():  # every config file is described
        if path.name != "README.md":
            assert f"`{path.name}" in readme, path.name
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    for key in schema["properties"]:  # and every key of the config
        assert f"`{key}`" in readme, key
