"""The fleet: jobs measured on the devices themselves, dispatched by Ray.

  job.py         a RunRequest as a job document that travels (job.json), checked on arrival
  device.py      what a device does with a job (api.execute in its own worker, as locally)
  ray_engine.py  the coordinator: one Ray task per device, records streamed back
  cluster.py     head / join / devices: thin wrappers over `ray start` and Ray's node list
  resume.py      --resume of a fleet run
  shard.py       --shard: a task's items split across devices, joined into one record
  matrix.py      the verdict matrix (model x device)
"""
