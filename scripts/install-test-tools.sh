#!/usr/bin/env bash
# The clients the end-to-end tests drive for real, installed from Debian when missing: aws-cli
# (v1 is on this machine image), rclone, s3cmd, openssl (the https cases) and boto3 (a second,
# independent SigV4/SigV2 signer in the auth and PostObject tests). Needs root for apt-get.
set -euo pipefail
need=()
command -v rclone >/dev/null 2>&1 || need+=(rclone)
command -v s3cmd >/dev/null 2>&1 || need+=(s3cmd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v aws >/dev/null 2>&1 || need+=(awscli)
python3 -c 'import boto3' 2>/dev/null || need+=(python3-boto3)
# `ip netns` for the network-cut test (test/server/netns-partition.test.ts).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
aws --version
