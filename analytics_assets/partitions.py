"""One dynamic partition per workflow uid, shared by the per-workflow assets."""

from dagster import DynamicPartitionsDefinition

from analytics_assets.constants import PARTITIONS_NAME

workflow_uids = DynamicPartitionsDefinition(name=PARTITIONS_NAME)
