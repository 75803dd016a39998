-- wrk script for bench/delivery/run.sh: single-flag OFREP evaluation.
-- Env: EV_SDK_KEY (evs_…), EV_FLAG (flag key).
wrk.method = "POST"
wrk.path = "/ofrep/v1/evaluate/flags/" .. os.getenv("EV_FLAG")
wrk.body = '{"context":{"targetingKey":"user-42","country":"de","plan":"pro"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("EV_SDK_KEY")
