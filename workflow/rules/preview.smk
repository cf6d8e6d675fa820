# One preview per (dataset, augmentation): a grid of the method on the dataset's real images, with the
# saliency map it consults and the label weights (augrepro.report.preview). Model-based methods use a
# freshly initialised resnet8 (seed 0), as the figure's caption says.


rule preview:
    input:
        data=ancient("results/data/{data_name}/data.npz"),
    output:
        "results/preview/{data_name}/{augmentation}.png",
    log:
        "results/logs/preview/{data_name}/{augmentation}.log",
    conda:
        "../../environment.yml"
    params:
        entry=get_preview_entry,
    script:
        "../scripts/preview.py"
