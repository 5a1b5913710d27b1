"""Português do Brasil: for members whose Discord is set to pt-BR."""

MESSAGES: dict[str, str] = {
    "error.internal": "Desculpe, algo deu errado do meu lado. (referência {reference})",
    "error.cooldown": "Calma aí: tente de novo em {seconds} segundos.",
    "error.missing_permissions": "Você precisa da permissão {permissions} para isso.",
    "error.guild_only": "Este comando funciona no servidor, não em mensagens diretas.",
    "error.bad_value": "{value} não é um valor válido para essa opção: escolha um que o "
    "Discord oferece.",
    "error.check_failed": "Você não pode usar este comando aqui.",
    "error.outdated": "Esse comando mudou; o Discord vai atualizar a lista em breve. "
    "Tente de novo.",
    "permission.manage_guild": "Gerenciar Servidor",
    # /persona
    "persona.title": "Como eu vejo a escrita de {name}",
    "persona.tone": "Tom",
    "persona.reply_style": "Estilo de resposta",
    "persona.language": "Idioma principal",
    "persona.figures": "Números de estilo",
    "persona.average_length": "Tamanho médio: {length} caracteres",
    "persona.questions": "Perguntas",
    "persona.exclamations": "Exclamações",
    "persona.emoji": "Emoji",
    "persona.capitals": "Maiúsculas",
    "persona.links": "Links",
    "persona.active_hours": "Horários mais ativos (UTC): {hours}",
    "persona.temperature": "Temperatura usada com você",
    "persona.temperature_fixed": "fixada pelo modelo",
    "persona.built": "Feito a partir de",
    "persona.built_value": "suas últimas {count} mensagens, {when}",
    "persona.kept": "O que fica guardado",
    "persona.kept_value": "Suas mensagens nos canais observados, por no máximo {days} dias, e "
    "este perfil. `/persona esquecer` apaga tudo; `/persona sair` interrompe tudo.",
    "persona.none_yet": "Você ainda não tem perfil. Eu monto um a partir das suas mensagens nos "
    "canais observados na próxima vez que eu te responder.",
    "persona.none_opted_out": "Você saiu: não guardo nada seu aqui. `/persona participar` desfaz "
    "isso.",
    "persona.none_needs_opt_in": "Neste servidor os perfis são opcionais: use `/persona "
    "participar` se quiser um.",
    "persona.refresh_cooldown": "Seu perfil foi atualizado há pouco: tente de novo em {minutes} "
    "minutos.",
    "persona.refresh_failed": "Não consegui montar seu perfil agora (nenhuma mensagem sua, ou o "
    "serviço de IA está fora do ar). Tente mais tarde.",
    "persona.forget_question": "Apagar todas as suas mensagens que guardo neste servidor, seu "
    "perfil e suas configurações? Não dá para desfazer.",
    "persona.forget_yes": "Apagar tudo",
    "persona.forget_no": "Cancelar",
    "persona.forget_cancelled": "Nada foi apagado.",
    "persona.forgotten": "Pronto: {messages} mensagens, seu perfil e suas configurações foram "
    "apagados.",
    "persona.opted_out": "Você saiu: apaguei {messages} mensagens e seu perfil, e não vou guardar "
    "nem analisar nada seu aqui. `/persona participar` desfaz isso.",
    "persona.opted_in": "Você entrou: vou guardar suas mensagens nos canais observados e montar "
    "seu perfil a partir delas.",
    "persona.unknown_action": "Escolha uma das ações que o Discord oferece: mostrar, atualizar, "
    "esquecer, sair ou participar.",
    "style.elegant": "elegante",
    "style.direct": "direto",
    "style.playful": "brincalhão",
    "style.warm": "caloroso",
    "style.none": "melhor não responder",
    # /temperature
    "temperature.value": "Sua temperatura de resposta aqui: **{value}**",
    "temperature.base": "• Base do servidor: {base} (definida por um moderador)",
    "temperature.base_default": "• Base do servidor: {base} (o padrão)",
    "temperature.adjustment": "• Ajuste da sua persona: {adjustment}",
    "temperature.no_persona": "• Sem ajuste de persona (você não tem perfil)",
    "temperature.clamped": "• Limitada à faixa permitida {low}–{high}",
    "temperature.within": "• Dentro da faixa permitida {low}–{high}",
    "temperature.accepted": "• A implantação de IA usa esta temperatura.",
    "temperature.not_accepted": "• A implantação de IA não aceita temperatura (um modelo de "
    "raciocínio): ela usa um valor fixo próprio.",
    "temperature.set_done": "A temperatura base do servidor agora é {value}.",
    "temperature.reset_done": "A temperatura base do servidor voltou ao padrão.",
    "temperature.set_what": "Informe um `valor` de 0.0 a 2.0, ou `redefinir: True`.",
    "temperature.out_of_range": "A temperatura deve ser um número de {low} a {high}.",
}

# English name, description, option or choice -> the text Discord shows in pt-BR.
COMMAND_TEXTS: dict[str, str] = {
    # /persona
    "persona": "persona",
    "See how the bot sees your writing, and control your data": "Veja como o bot enxerga sua "
    "escrita e controle seus dados",
    "action": "acao",
    "What to do (default: show your profile)": "O que fazer (padrão: mostrar seu perfil)",
    "show": "mostrar",
    "refresh": "atualizar",
    "forget": "esquecer",
    "opt-out": "sair",
    "opt-in": "participar",
    # /temperature and /temperature-set
    "temperature": "temperatura",
    "See the response temperature the bot uses with you": "Veja a temperatura de resposta que "
    "o bot usa com você",
    "temperature-set": "temperatura-definir",
    "Set the server's base response temperature (Manage Server)": "Defina a temperatura base "
    "de resposta do servidor (Gerenciar Servidor)",
    "value": "valor",
    "From 0.0 (predictable) to 2.0 (wild); the default is 0.8": "De 0.0 (previsível) a 2.0 "
    "(solto); o padrão é 0.8",
    "reset": "redefinir",
    "Go back to the default": "Voltar ao padrão",
}
