# dlrmbench for NVIDIA GPU machines. The NGC PyTorch image brings CUDA, cuDNN, NCCL, PyTorch and Triton;
# we install dlrmbench on top without touching its torch.
#   docker build -t dlrmbench .
#   docker run --gpus all --ipc=host -v $PWD/results:/workspace/dlrmbench/results dlrmbench \
#       dlrmbench run suites/dgxa100.yaml
ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:24.10-py3
FROM ${BASE_IMAGE}

ENV PIP_NO_CACHE_DIR=1 SPARK_LOCAL_IP=127.0.0.1
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace/dlrmbench
COPY . .
# Keep the image's CUDA build of torch: install our package and its other dependencies only.
RUN python -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
 && pip install -e ".[preproc,mlperf,report,test]" \
 && python -c "import torch; assert torch.version.cuda, 'the CUDA torch of the base image was replaced'"

CMD ["dlrmbench", "--help"]
