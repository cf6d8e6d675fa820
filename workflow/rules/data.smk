# Dataset archives: fetched once (a local rule: compute nodes often have no internet), verified,
# then prepared into one .npz of uint8 arrays. The embedded demo goes through the same two rules.


rule download:
    output:
        "results/downloads/{data_name}/{archive}",
    params:
        mirror=config["data"]["mirror"],
        local_dir=config["data"]["local_dir"],
    conda:
        "../../environment.yml"
    log:
        "results/logs/download/{data_name}/{archive}.log",
    script:
        "../scripts/download.py"


rule prepare:
    input:
        ancient(get_archive),
    output:
        "results/data/{data_name}/data.npz",
    conda:
        "../../environment.yml"
    log:
        "results/logs/prepare/{data_name}.log",
    script:
        "../scripts/prepare.py"
