# Pretrained backbones (augrepro.models.pretrained): torchvision's published weights file, fetched once on the
# submit host (a local rule: compute nodes often have no internet) from data.pretrained_dir, torch.hub's cache or
# torchvision's weights API, its SHA-256 prefix checked, into results/pretrained/; training jobs read it there.
# data.pretrained_dir is read by the script, not passed as a param: switching sources reruns nothing.


rule pretrained:
    output:
        "results/pretrained/{weights_file}",
    log:
        "results/logs/pretrained/{weights_file}.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/pretrained.py"
