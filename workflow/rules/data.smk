# Dataset archives: fetched once (a local rule: compute nodes often have no internet), verified,
# then prepared into one data.npz. The embedded demo goes through the same two rules. ImageNet is
# never downloaded: rule prepare reads the folder given by data.imagenet_path.
# data.mirror and data.local_dir are read by the script from the config, not passed as params, so
# that switching between a mirror and a local folder does not rerun finished downloads (and all
# that depends on them); data.checksums.{data_name} is a param: another expected file is another archive.


rule download:
    output:
        "results/downloads/{data_name}/{archive}",
    log:
        "results/logs/download/{data_name}/{archive}.log",
    conda:
        "../../environment.yml"
    params:
        checksum=get_checksum,
    script:
        "../scripts/download.py"


rule prepare:
    input:
        ancient(get_archive),
    output:
        "results/data/{data_name}/data.npz",
    log:
        "results/logs/prepare/{data_name}.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare.py"
