# Evaluations of finished runs, for the studies that ask for them (evaluate: in config/studies/*.yaml): an FGSM
# attack of the run's test split (one job per recipe and run), and a Faster R-CNN fine-tuned on Pascal VOC with
# the run's ResNet as backbone (one job per recipe, run and detection seed). Both read the weights file of the run
# that their recipe's checkpoint names (best.pt or checkpoint.pt) and never retrain it; the recipe
# (config/evaluations.yaml) is a param that depends on its wildcard alone, so editing one recipe reruns its own jobs
# only.


rule fgsm:
    input:
        checkpoint=get_evaluated_checkpoint("fgsm"),
        data=ancient(get_prepared),
    output:
        result="results/evaluate/fgsm/{fgsm_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/fgsm.json",
    log:
        "results/logs/fgsm/{fgsm_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.log",
    benchmark:
        "results/benchmarks/fgsm/{fgsm_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: get_evaluation_resource("fgsm", "threads")
    resources:
        gpu=get_evaluation_resource("fgsm", "gpus"),
        mem_mb=get_evaluation_resource("fgsm", "mem_mb"),
        runtime=get_evaluation_runtime("fgsm"),
    params:
        recipe=get_evaluation_recipe("fgsm"),
    script:
        "../scripts/fgsm.py"


rule detect:
    input:
        checkpoint=get_evaluated_checkpoint("detection"),
        voc=ancient("results/data/voc/data.npz"),
    output:
        result="results/evaluate/detection/{det_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/det_seed{det_seed}/detection.json",
    log:
        "results/logs/detection/{det_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/det_seed{det_seed}.log",
    benchmark:
        "results/benchmarks/detection/{det_recipe}/{protocol}/{dataset}/{model}/{augmentation}/seed{seed}/det_seed{det_seed}.tsv"
    conda:
        "../../environment.yml"
    threads: get_evaluation_resource("detection", "threads")
    resources:
        gpu=get_evaluation_resource("detection", "gpus"),
        mem_mb=get_evaluation_resource("detection", "mem_mb"),
        runtime=get_evaluation_runtime("detection"),
    params:
        recipe=get_evaluation_recipe("detection"),
    script:
        "../scripts/detect.py"
