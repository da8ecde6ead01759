-- wrk script for the task API and the reference app.
--
--   wrk -s bench/wrk/tasks.lua http://127.0.0.1:PORT -- DATA_FILE SCENARIO
--
-- DATA_FILE is a Lua file (written by bench/seed.py) returning one entry per user:
-- {path = "/api/ID/tasks", list = "/api/ID/tasks?...", filtered = "/api/ID/tasks?priority=...",
--  auth = "Bearer ...", tasks = {ids}}.
-- Every request goes to the next user in turn (each thread starts at its own offset), with that
-- user's token and one of that user's own task ids. Every response status is checked: a status
-- the scenario does not expect counts as an error, so a fast 4xx never passes for throughput.
-- SCENARIO: list | filtered (list by priority, sorted by due date) | get | create | toggle |
-- replace | mixed (50% list, 35% get, 10% toggle, 5% create). done() prints one line, "BENCH_RESULT {json}", that bench/run.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

bad_status = 0
sent_creates = 0
got_201 = 0

local users
local scenario
local expected
local cursor = 0

local CREATE_BODY = '{"title": "Benchmark task", "description": "Created by wrk"}'
local REPLACE_BODY = '{"title": "Replaced by wrk", "description": "Full replacement", "completed": true}'

local EXPECTED = {
  list = { [200] = true },
  filtered = { [200] = true },
  get = { [200] = true },
  toggle = { [200] = true },
  replace = { [200] = true },
  create = { [201] = true },
  mixed = { [200] = true, [201] = true },
}

function init(args)
  users = dofile(args[1])
  scenario = args[2]
  expected = EXPECTED[scenario]
  if expected == nil then
    error("unknown scenario: " .. tostring(scenario))
  end
  cursor = ((thread_index - 1) * 7919) % #users
  math.randomseed(thread_index * 104729 + os.time())
end

local function next_user()
  cursor = cursor % #users + 1
  return users[cursor]
end

local function one_task(user)
  return user.path .. "/" .. user.tasks[math.random(#user.tasks)]
end

local function send(kind, user)
  local headers = { ["Authorization"] = user.auth }
  if kind == "list" then
    return wrk.format("GET", user.list, headers)
  elseif kind == "filtered" then
    return wrk.format("GET", user.filtered, headers)
  elseif kind == "get" then
    return wrk.format("GET", one_task(user), headers)
  elseif kind == "toggle" then
    return wrk.format("PATCH", one_task(user) .. "/complete", headers)
  end
  headers["Content-Type"] = "application/json"
  if kind == "replace" then
    return wrk.format("PUT", one_task(user), headers, REPLACE_BODY)
  end
  sent_creates = sent_creates + 1
  return wrk.format("POST", user.path, headers, CREATE_BODY)
end

function request()
  local kind = scenario
  if kind == "mixed" then
    local roll = math.random(100)
    if roll <= 50 then
      kind = "list"
    elseif roll <= 85 then
      kind = "get"
    elseif roll <= 95 then
      kind = "toggle"
    else
      kind = "create"
    end
  end
  return send(kind, next_user())
end

function response(status, headers, body)
  if not expected[status] then
    bad_status = bad_status + 1
  end
  if status == 201 then
    got_201 = got_201 + 1
  end
end

function done(summary, latency, requests)
  local bad, creates, created = 0, 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("bad_status")
    creates = creates + thread:get("sent_creates")
    created = created + thread:get("got_201")
  end
  -- In the mixed scenario a 201 answers only a create: more 201s than creates are wrong answers.
  if created > creates then
    bad = bad + created - creates
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"mean_us": %.1f, "bad_status": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, bad, socket_errors
  ))
end
