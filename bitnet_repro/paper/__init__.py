"""The paper's outputs: the tables and figures the DAG writes, from the results the other areas computed."""
