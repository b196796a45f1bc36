-- The collector sees tensor memory: a loop that drops 4 MB tensors (40 GB in all) stays far
-- below 1 GB resident; an allocation that cannot succeed fails with a message, not a crash.
local T = ...

local TAU = os.getenv("TAU") or (arg and arg[-1]) or "bin/tau"

local function status_kb(text, field)
  return tonumber(text:match(field .. ":%s*(%d+) kB"))
end

local function read_status()
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a chunk in a fresh interpreter and returns what it prints, and whether it exited well.
local function run_fresh(code)
  local p = io.popen(TAU .. " -e '" .. code .. "' 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

T.test("1e4 dropped 1000x1000 tensors stay under 1 GB resident (fresh process)", function()
  if not read_status() then T.skip("no /proc/self/status") end
  local out, ok = run_fresh([[
    for i = 1, 1e4 do local a = tau.zeros(1000, 1000) end
    local f = io.open("/proc/self/status"); local s = f:read("a"); f:close()
    print("HWM", s:match("VmHWM:%s*(%d+) kB"))
  ]])
  T.ok(ok, "the loop ran: " .. out)
  local hwm = tonumber(out:match("HWM%s+(%d+)"))
  T.ok(hwm, "peak resident size reported: " .. out)
  T.ok(hwm < 1024 * 1024, string.format("peak resident size %.0f MB", hwm / 1024))
end)

T.test("resident memory stays bounded in this process too", function()
  local s = read_status()
  if not s then T.skip("no /proc/self/status") end
  collectgarbage()
  local base, peak = status_kb(s, "VmRSS"), 0
  for i = 1, 1000 do
    local a = tau.ones(1000, 1000)
    if i % 250 == 0 then peak = math.max(peak, status_kb(read_status(), "VmRSS")) end
  end
  T.ok(peak - base < 1024 * 1024, string.format("resident size grew by %.0f MB", (peak - base) / 1024))
  collectgarbage()
end)

T.test("an allocation that cannot succeed reports out of memory", function()
  local f = io.open("/proc/sys/vm/overcommit_memory")
  local mode = f and f:read("l")
  if f then f:close() end
  -- with overcommit forced on, a 2 TB allocation would succeed and then be touched
  if mode == "1" then T.skip("overcommit_memory is 1: the allocation would not fail") end
  if os.getenv("ASAN_OPTIONS") then T.skip("AddressSanitizer refuses such sizes itself") end
  -- 2^39 floats (2 TB) is a valid shape but far beyond this machine's memory
  local err = T.raises(function() return tau.zeros(2^39) end,
                       "tau.zeros: out of memory allocating a tensor of size [549755813888] (2199023.3 MB)")
  T.raises(function() return tau.randn(2^20, 2^19) end, "tau.randn: out of memory allocating a tensor of size [1048576, 524288]")
  T.raises(function() return tau.ones(4, 2^38):sum() end, "tau.ones: out of memory")
  T.ok(not err:find("\n"), "one line")
  -- and the interpreter carries on
  T.eq(tau.ones(3):sum():item(), 3)
end)
