-- tau.<name> is the Lua module tau.<name>, loaded on first use from wherever require finds it
-- (scripts/tau/<name>.lua or <name>/init.lua), with no list of names to keep.
local T = ...
local fx = require "fixtures"

local tmp = fx.root()
local probes = {"lazyprobe_file", "lazyprobe_pkg", "lazyprobe_broken", "lazyprobe_syntax"}

-- Runs fn with tmp's tau/ folder searched first, and forgets every probe module afterwards.
local function with_probe_path(fn)
  local saved = package.path
  package.path = tmp .. "/?.lua;" .. tmp .. "/?/init.lua;" .. saved
  local ok, err = pcall(fn)
  package.path = saved
  for _, name in ipairs(probes) do
    package.loaded["tau." .. name] = nil
    rawset(tau, name, nil)
  end
  if not ok then error(err, 0) end
end

fx.mkdir(tmp .. "/tau/lazyprobe_pkg")
fx.write(tmp .. "/tau/lazyprobe_file.lua", "return {answer = 42}\n")
fx.write(tmp .. "/tau/lazyprobe_pkg/init.lua", "return {kind = 'package'}\n")
fx.write(tmp .. "/tau/lazyprobe_broken.lua", "error('lazyprobe_broken: cannot start', 0)\n")
fx.write(tmp .. "/tau/lazyprobe_syntax.lua", "return {\n")

T.test("a module on package.path loads on first access and stays", function()
  with_probe_path(function()
    T.eq(rawget(tau, "lazyprobe_file"), nil, "not loaded before use")
    T.eq(tau.lazyprobe_file.answer, 42)
    T.ok(rawget(tau, "lazyprobe_file") == package.loaded["tau.lazyprobe_file"],
      "the field is the module require returns")
    T.eq(tau.lazyprobe_pkg.kind, "package", "<name>/init.lua")
  end)
end)

T.test("modules of the library load without a list naming them", function()
  T.ok(tau.io == require "tau.io")
  T.ok(tau.gradcheck == require "tau.gradcheck")
  T.ok(tau.util == require "tau.util")
  T.eq(type(tau.save), "function")
end)

T.test("a name no module answers to is nil, and loads nothing", function()
  local before = {}
  for k in pairs(package.loaded) do before[k] = true end
  T.eq(tau.no_such_module, nil)
  T.eq(tau.zz_not_a_module, nil)
  T.eq(tau[1], nil)
  T.eq(tau["../lazyprobe_file"], nil)
  T.eq(tau[""], nil)
  for k in pairs(package.loaded) do T.ok(before[k], "loaded " .. k) end
end)

T.test("a module that fails to load raises its error, each time", function()
  with_probe_path(function()
    T.raises(function() return tau.lazyprobe_broken end, "lazyprobe_broken: cannot start")
    T.raises(function() return tau.lazyprobe_broken end, "lazyprobe_broken: cannot start")
    T.eq(rawget(tau, "lazyprobe_broken"), nil)
    T.raises(function() return tau.lazyprobe_syntax end, "lazyprobe_syntax.lua", "expected")
  end)
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
