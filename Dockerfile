# dlrmbench for NVIDIA GPU machines (README "GPUs and containers"). NVIDIA's PyTorch container brings
# CUDA, cuDNN, NCCL, PyTorch and Triton; dlrmbench goes on top without replacing its torch.
#   docker build -t dlrmbench .
#   docker run --gpus all --ipc=host --rm -v /data/dlrm:/data -v $PWD/results:/workspace/dlrmbench/results \
#       dlrmbench dlrmbench run suites/dgxa100.yaml --dataset-path /data/binary_dataset
ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:24.10-py3
FROM ${BASE_IMAGE}

# Java for PySpark (`dlrmbench preprocess`); SPARK_LOCAL_IP keeps local Spark on the loopback; jemalloc and
# tcmalloc for the `allocator:` choices (docs/measurement.md; the default needs neither).
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 SPARK_LOCAL_IP=127.0.0.1
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless libjemalloc2 libtcmalloc-minimal4 && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/dlrmbench
COPY . .
# Keep the image's CUDA build of torch (and its Triton): pin both to what is installed, so pip
# can neither upgrade nor replace them while it installs dlrmbench and the extras.
RUN python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
 && pip list --format=freeze | grep -iE '^(torch|triton|pytorch-triton)==' > /tmp/keep.txt \
 && pip install -c /tmp/keep.txt -e ".[preproc,mlperf,report,export,results]" \
 && python -c "import torch; assert torch.version.cuda, 'the CUDA torch of the base image was replaced'" \
 && dlrmbench list-plugins

CMD ["dlrmbench", "--help"]
