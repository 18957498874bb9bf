"""serve.py's basic_monitoring, in process: every instance reports its CPU for each 5-minute
period it ran in, once the period ended CPU_REPORTED_AFTER ago, at the idle figure; nothing for
a period not yet reported or one it did not run in; a workload's own figure beside them.
Prints OK or fails with the reason."""

import datetime
import sys
import time

sys.path.insert(0, sys.argv[1])
import serve  # noqa: E402

serve.basic_monitoring()

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402

PERIOD = serve.CPU_PERIOD


def cpu(cloudwatch, instance_id, start, end):
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "cpu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    },
                    "Period": PERIOD,
                    "Stat": "Maximum",
                },
                "ReturnData": True,
            }
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )["MetricDataResults"][0]
    return [(int(t.timestamp()), v) for t, v in zip(answer["Timestamps"], answer["Values"])]


with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]]
    now = time.time()
    aligned = int(now // PERIOD) * PERIOD
    # The first ran for the last hour and runs still; the second ran for 20 minutes from an
    # hour ago, then stopped.
    ran = {ids[0]: [[aligned - 3600, None]], ids[1]: [[aligned - 3600, aligned - 2400]]}
    for reservation in ec2_backends["123456789012"]["us-east-1"].reservations.values():
        for instance in reservation.instances:
            instance._sbx_ran = ran[instance.id]
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    start = datetime.datetime.fromtimestamp(aligned - 7200, datetime.timezone.utc)
    end = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)

    def reported(at):
        return [p for p in range(aligned - 3600, aligned, PERIOD) if p + PERIOD <= at - serve.CPU_REPORTED_AFTER]

    running = cpu(cloudwatch, ids[0], start, end)
    # As of the moment of the query, between these two.
    assert [t for t, _ in running] in (reported(now), reported(time.time())), running
    assert all(v == serve.CPU_IDLE for _, v in running), running

    stopped = cpu(cloudwatch, ids[1], start, end)
    assert [t for t, _ in stopped] == list(range(aligned - 3600, aligned - 2400, PERIOD)), stopped

    # Asked again: the same periods, each reported once.
    assert cpu(cloudwatch, ids[0], start, end) == running

    # A workload's figure sits beside the idle one, and the highest is the period's maximum.
    busy_at = aligned - 1800
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": ids[0]}],
                "Timestamp": datetime.datetime.fromtimestamp(busy_at + 60, datetime.timezone.utc),
                "Value": 42.0,
                "Unit": "Percent",
            }
        ],
    )
    again = dict(cpu(cloudwatch, ids[0], start, end))
    assert again[busy_at] == 42.0, again
    assert again[busy_at - PERIOD] == serve.CPU_IDLE, again

print("OK")
