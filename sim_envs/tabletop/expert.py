class ScriptedExpert: pass
