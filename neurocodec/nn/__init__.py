"""Neural-network building blocks of the codecs (transforms, bounds, the factorised density).

Written for neurocodec rather than imported from compressai: importing compressai also imports
its data sets, point-cloud code (torch_geometric, torch._dynamo) and scipy.stats, which cost
2-5 s at every start of the command line. Parameter and buffer names follow the conventions
of the published models (GDN's beta/gamma, the factorised prior's matrices/biases/factors/
quantiles), so checkpoints from either load as they are; the tests compare outputs with
compressai's layers when it is installed.
"""
